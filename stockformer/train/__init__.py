"""stockformer.train"""
