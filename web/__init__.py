"""Server-rendered web pages for people (issue 14): sign-in, expert inbox, authorities' dashboard and
case pages, applicants' cases, public registers. Pages call the same store services and the same API
route functions (and so the same workflow updates) as the REST API; see docs/web.md."""
