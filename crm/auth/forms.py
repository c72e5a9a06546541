"""Log-in and registration forms."""
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, EqualTo, Length

ROLE_CHOICES = [("customer", "Customer"), ("engineer", "Engineer"), ("agent", "Support agent"),
                ("manager", "Manager")]


class LoginForm(FlaskForm):
    """Email + password."""

    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    remember = BooleanField("Remember me")
    submit = SubmitField("Log in")


class RegisterForm(FlaskForm):
    """A new account; staff roles wait for approval."""

    name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8, max=128)])
    confirm = PasswordField("Confirm password",
                            validators=[DataRequired(), EqualTo("password", "Passwords do not match.")])
    role = SelectField("I am a", choices=ROLE_CHOICES, default="customer")
    submit = SubmitField("Create account")
