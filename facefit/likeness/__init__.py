"""Likeness: does a face recogniser nobody here trained find the player in their character?"""
