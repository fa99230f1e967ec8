"""The hub: event ingest, its own store, web pages, REST, reports and forwarding to the back end."""
