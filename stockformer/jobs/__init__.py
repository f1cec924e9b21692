"""stockformer.jobs"""
