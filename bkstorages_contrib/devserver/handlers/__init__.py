"""The handlers behind the route table in ``app.py``, one module per bk-repo service.

Every handler is called as ``handler(context, request, **groups)`` once the
route matched, the method is allowed, an artifact path (if the route has one)
is checked and normalised, and the caller is authenticated; it returns a
:class:`~bkstorages_contrib.devserver.responses.Response` or raises an
:class:`~bkstorages_contrib.devserver.envelope.ApiError`.
"""
