"""The only code of Ratecard that imports ``stripe`` (the official library's ``StripeClient``).

Services call these functions with our objects' plain values and get plain dicts back; errors come out
as ``invoicing.stripe.errors`` classes, so nothing above this package depends on the library.
"""
