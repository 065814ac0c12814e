FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# collectstatic needs settings that load; real values come from the environment at run time.
RUN DEBUG=true STATIC_MANIFEST=true python manage.py collectstatic --noinput
RUN useradd --system --home /app identityhub && mkdir -p /app/var && chown identityhub /app/var
USER identityhub
EXPOSE 8000
CMD ["gunicorn", "identityhub.wsgi", "--config", "gunicorn.conf.py"]
