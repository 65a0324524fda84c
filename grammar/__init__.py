"""The grammar of the lipc text language (a lark grammar shipped inside the package as
``lipc.grammar``); the language itself arrives with its front end."""
