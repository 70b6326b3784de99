"""Importers: public datasets, sellers' order exports (Amazon, Shopify, any CSV by column
mapping) and the US tariff schedule (``hts``) turned into the raw data contract
(``ml/contract.py``); shared parts in ``common``."""
