"""Everything that speaks Slack: request signing and a local fake of the Slack Web API."""
