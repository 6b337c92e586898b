"""The LiteLLM proxy plugin: the proxy asks the Kilo dashboard before every request and
streams each request's usage back to it.

It runs inside the LiteLLM proxy's process (its own virtualenv, requirements-litellm.txt)
and talks to the dashboard only over the HTTP API with the organization's gateway token,
so the proxy may run on another host than the dashboard and needs neither the dashboard's
code nor its database. The proxy's config names two entry points:

    general_settings:
      custom_auth: kilo_litellm.auth.user_api_key_auth    # decide each request
    litellm_settings:
      callbacks: kilo_litellm.usage.usage_logger          # record each request's usage

Settings come from the environment (`kilo_litellm.settings`). Nothing here imports the
dashboard's `kilo` package.
"""
