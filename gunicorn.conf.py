# gunicorn -c gunicorn.conf.py 'server:create_app()'
import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 4
timeout = 30
# The access log would carry webhook URLs, tokens included; thsync.logs redacts every handler it
# finds (gunicorn's too), but keep access logging off unless you need it.
accesslog = None


def post_worker_init(worker):
    """Each web process runs a worker thread too when RUN_WORKER is true (the default)."""
    services = getattr(worker.wsgi, "extensions", {}).get("thsync")
    if services is not None:  # another app served with this file has no worker to start
        services.start_worker()
