"""The console's login page (and the admin's form): Django's, saying when a locked-out username or
address may try again (console/login_limit.py) instead of only "wrong password"."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse

from console import login_limit


class _LockoutMessage:
    request: HttpRequest | None  # AuthenticationForm's

    def get_invalid_login_error(self) -> ValidationError:
        until = getattr(self.request, "login_locked_until_ms", None)
        if until is not None:
            return ValidationError(login_limit.lockout_message(until), code="locked_out")
        return super().get_invalid_login_error()


class LoginForm(_LockoutMessage, AuthenticationForm):
    pass


class AdminLoginForm(_LockoutMessage, AdminAuthenticationForm):
    pass


class LoginView(auth_views.LoginView):
    form_class = LoginForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        until = getattr(self.request, "login_locked_until_ms", None)
        if until is not None:
            # The page with the form error, as 429 so scripts and monitoring see a lockout too.
            response.status_code = 429
            response["Retry-After"] = str(login_limit.retry_after_s(until))
        return response
