"""Ansible as a discovery source: `facts` reads what Ansible wrote, `mapping` turns one
host's facts into a Server item, `runner` runs Ansible's setup module over an inventory."""
