"""Code that every service of both demos uses, once.

The two demos run the same two services; they differ only in how order-service finds
user-service (see locators.py) and whether services register with Consul (registry.py).
"""
