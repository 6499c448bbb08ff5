# The user-code image, in Dagster's convention (examples/deploy_docker/Dockerfile_user_code): the
# built crm_assets package serving its code location over gRPC on port 4000, which the webserver
# and the daemon reach through deploy/workspace.yaml. The same image runs them too (its package
# depends on dagster-webserver and dagster-postgres). README: "Running in production".
#
# The image holds the wheel's files only: the source configs, celery.yaml and the dlt settings
# travel inside the package (crm_assets/project_files.py); no tests, sandbox, demo or bench.
# crm_assets_tests/test_packaging.py performs these steps where no container engine runs (each
# COPY and RUN, then the CMD, in a fresh virtualenv), so it knows ARG, FROM, WORKDIR, COPY, RUN,
# ENV, EXPOSE and CMD only.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md celery.yaml ./
COPY .dlt/config.toml .dlt/
COPY configs/ configs/
COPY crm_assets/ crm_assets/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# One instance for the three containers: Postgres storage, the run queue, one slot per source.
ENV DAGSTER_HOME=/opt/dagster/dagster_home
COPY dagster.prod.yaml /opt/dagster/dagster_home/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/workspace.yaml
# Runs launched through the gRPC server execute here: dlt's pipelines directory and any local
# file go under this empty directory.
WORKDIR /opt/dagster/app
EXPOSE 4000
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "crm_assets.definitions"]
