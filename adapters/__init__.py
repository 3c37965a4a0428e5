"""Protocol adapters at the venue's edge: each speaks one outside protocol and reaches the venue as a ZeroMQ client."""
