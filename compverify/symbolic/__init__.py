"""compverify.symbolic"""
