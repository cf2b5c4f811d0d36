"""Session, authentication and messages middleware that step over the respondent pages.

Respondents have no account, session or messages: the pages under RESPONDENT_PATH_PREFIX never
read `request.session`, `request.user` or messages, and set no cookie but their own signed one.
Running these three there costs Python CPU on every submission for nothing, so on those paths
these subclasses pass the request straight on. Everything else in the stack still runs there:
the trusted-proxy address, the request id, the security and CSP headers, WhiteNoise,
LocaleMiddleware, CommonMiddleware (the trailing slash), CSRF (the form's view is CSRF-exempt by
its own decorator; the thanks page takes no POST), X-Frame-Options and allauth's middleware
(allauth insists on its own entry). Every other path gets the three unchanged.

They are subclasses, so Django's checks (admin: session, auth and messages installed) and
anything asking "is X in the stack" keep seeing them.
"""

from typing import Any

from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest

# The responses app's URL prefix (cxplatform/urls.py: path("s/", include(...))).
RESPONDENT_PATH_PREFIX = "/s/"


def is_respondent_path(request: HttpRequest) -> bool:
    return request.path_info.startswith(RESPONDENT_PATH_PREFIX)


class SessionMiddleware(sessions.SessionMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if is_respondent_path(request):
            return self.get_response(request)
        return super().__call__(request)


class AuthenticationMiddleware(auth.AuthenticationMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if is_respondent_path(request):
            return self.get_response(request)
        return super().__call__(request)


class MessageMiddleware(messages.MessageMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if is_respondent_path(request):
            return self.get_response(request)
        return super().__call__(request)
