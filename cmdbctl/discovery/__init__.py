"""Discovery: reading what the machines say (`cmdbctl discover`).

`snapshot` is the format every source is turned into and `cmdbctl diff` reads;
`adapters` are the sources (entry points of group `cmdbctl.adapters`).
"""
