# weightlib in a slim image: `docker build -t weightlib:0.1.0 .` (add `--build-arg EXTRAS=modelscope`
# or `hf-transfer`, `torch`, `all` for extras). Stage 1 builds the wheel from this checkout and
# installs it into a venv; stage 2 copies only that venv, so the image has no compiler, no build
# tools and no source tree, and never installs anything when a container starts.
# Both stages share the base so the venv's interpreter path exists in the second.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
WORKDIR /src
COPY pyproject.toml README.md ./
COPY weightlib ./weightlib
COPY man ./man
COPY completions ./completions
COPY deploy/entrypoint.sh ./deploy/entrypoint.sh
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /dist . \
    && python -m venv /opt/weightlib \
    && wheel=(/dist/weightlib-*.whl) \
    && /opt/weightlib/bin/pip install --no-cache-dir "${wheel[0]}${EXTRAS:+[$EXTRAS]}" \
    && /opt/weightlib/bin/weightlib --version

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="weightlib" \
      org.opencontainers.image.description="Get LLM weights onto a machine and into its page cache" \
      org.opencontainers.image.licenses="Apache-2.0"
# One unprivileged user; the Kubernetes recipes run as this uid, which also owns the files it
# downloads (the kernel shows page-cache residency of a file only to its owner or a writer).
RUN groupadd --system --gid 10001 weightlib \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
        --create-home --home-dir /home/weightlib weightlib
COPY --from=build /opt/weightlib /opt/weightlib
ENV PATH=/opt/weightlib/bin:$PATH \
    HF_HOME=/home/weightlib/.cache/huggingface \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
WORKDIR /home/weightlib
# `weightlib-entrypoint` (deploy/entrypoint.sh) is on PATH too, for images that serve.
ENTRYPOINT ["weightlib"]
CMD ["--help"]
