"""stockformer.model"""
