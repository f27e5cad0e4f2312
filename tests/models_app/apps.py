from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "tests.models_app"
    label = "models_app"
