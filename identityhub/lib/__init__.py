"""Plain-Python core of IdentityHub: no module in this package imports Django."""
