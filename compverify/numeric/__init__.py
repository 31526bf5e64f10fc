"""compverify.numeric"""
