"""AWS access: sessions and credentials, accounts and their clients, the handlers every client
is fitted with, and paginated reads. Everything that knows botocore lives in this package.
"""
