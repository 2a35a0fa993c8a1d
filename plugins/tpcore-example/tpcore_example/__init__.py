"""tpcore-example: the plugin that docs/plugins.md builds step by step."""
