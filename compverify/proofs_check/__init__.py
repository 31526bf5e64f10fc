"""compverify.proofs_check"""
