"""stockformer.dashboard"""
