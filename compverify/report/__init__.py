"""compverify.report"""
