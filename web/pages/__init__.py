"""Page routers: everyone's (sign-in, registers), then each kind of person's own pages."""

from web.pages import (account, applicant, authority, cases, documents, expert, ledger, oversight, public,
                       resident, scenarios, supervision, users)

ROUTERS = [account.router, public.router, expert.router, authority.router, applicant.router, cases.router,
           documents.router, ledger.router, scenarios.router, supervision.router,
           resident.router, oversight.router, users.router]
