"""The MCP gateway: Charter's enforcement point between agents and MCP servers."""
