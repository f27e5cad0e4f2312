"""The sandbox's one app: uploads, a public gallery, private documents and a bucket browser."""
