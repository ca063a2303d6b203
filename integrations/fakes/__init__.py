"""Local fake providers: real HTTP servers that honour each provider document's contract."""
