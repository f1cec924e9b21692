"""stockformer.data"""
