"""HTTP only: parse, call one service function, shape the response (status, headers, body)."""
