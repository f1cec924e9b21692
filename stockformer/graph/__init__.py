"""stockformer.graph"""
