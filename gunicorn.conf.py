# gunicorn -c gunicorn.conf.py 'server:create_app()'
import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4
timeout = 30
# The access log would carry webhook URLs, tokens included; thsync.logs redacts every handler it
# finds (gunicorn's too), but keep access logging off unless you need it.
accesslog = None
