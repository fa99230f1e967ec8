"""Hall and counter agents: the counter agent, the LED main board agent and the voice announcer."""
