# One image for every role (migrate, web, worker, flower); the command picks the role.
# CPU build by default; the GPU worker builds with TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128.

# The editor's browser libraries (three.js), installed from package-lock.json as `make setup`
# does, without the test-only packages; the image takes node_modules/ alone (web/vendor.py
# serves the modules from it), not Node itself.
FROM node:20-bookworm-slim AS browser-libraries
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim-bookworm

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FACEFIT_VAR_DIR=/var/lib/facefit

# Offscreen OpenGL (Mesa) for the rig's renderer; libgomp for torch on CPU.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libegl1 libgl1-mesa-dri libgomp1 curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so that a code change does not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p facefit web worker db \
 && touch facefit/__init__.py web/__init__.py worker/__init__.py db/__init__.py \
 && pip install --extra-index-url "$TORCH_INDEX_URL" . \
 && pip uninstall -y facefit

COPY --from=browser-libraries /app/node_modules ./node_modules
COPY . .
RUN pip install --no-deps . \
 && useradd --system --create-home --uid 10001 facefit \
 && mkdir -p "$FACEFIT_VAR_DIR" && chown facefit "$FACEFIT_VAR_DIR"
USER facefit

EXPOSE 8000
# gunicorn's settings: deploy/gunicorn.conf.py (docker compose puts the edge, nginx, in front
# and sets FACEFIT_PROXY_HOPS=1). --reuse-port: one listening socket per worker, so that the
# kernel spreads connections over the workers (with one shared socket, a burst of keep-alive
# connections can all land on one worker while the other idles).
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "--bind", "0.0.0.0:8000", "--reuse-port", "web:create_app()"]
