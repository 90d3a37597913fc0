"""`--web.config.file`: TLS, basic auth and response headers in the exporter-toolkit format.

`config` reads the file into a WebConfig, `basic_auth` checks credentials, and `config_file`
keeps the file current and applies it to the WSGI app.
"""

from exporter.web.basic_auth import BasicAuth
from exporter.web.config import WebConfig, load_web_config, parse_web_config
from exporter.web.config_file import WebConfigFile

__all__ = ["BasicAuth", "WebConfig", "WebConfigFile", "load_web_config", "parse_web_config"]
