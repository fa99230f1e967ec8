"""Device enrolment and site security: the site CA and broker certificates, broker accounts and ACL,
systemd units and install bundles for the Raspberry Pis (``onestop provision``, docs/deployment.md)."""
