"""Pydantic models exchanged between workflows and activities, and the activities' names.

Workflows call activities by name (workflows may import only domain code); activities implement
these names. Both sides import the models from here.
"""
