"""HTTP plumbing shared by the Customer.io and Hull clients (private).

- :mod:`.retry` — which failures are retried, and how long to wait (``hc.RetryPolicy``);
- :mod:`.ratelimit` — the request-rate limiters and the ``RateLimiter`` protocol a shared
  limiter implements (``hc.RateLimiter``);
- :mod:`.transport` — the asyncio network backend under the async clients' connection pool.
"""
