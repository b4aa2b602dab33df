"""GitHub integration: the pull-request comment, Deployments and OIDC sign-in; PyGithub is imported only when used."""
