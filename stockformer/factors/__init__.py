"""stockformer.factors"""
