# stepgate container image. Two stages on Debian 12: the build stage compiles a Release
# binary; the runtime stage carries only that binary, its shared libraries and the example
# configuration. Package lists come from scripts/packages.txt (roles `build`, `runtime`).
#
#   docker build -t stepgate .
#   docker run --rm -p 8443:8443 -v "$PWD/my-config:/etc/stepgate:ro" stepgate

FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
COPY scripts/packages.txt /tmp/packages.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      $(awk '$1 == "build" { print $2 }' /tmp/packages.txt) \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/build build-release -DCMAKE_BUILD_TYPE=Release -DSTEPGATE_TESTS=OFF \
 && strip build-release/proxy/stepgate

FROM debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
COPY scripts/packages.txt /tmp/packages.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      $(awk '$1 == "runtime" { print $2 }' /tmp/packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/packages.txt \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin stepgate
COPY --from=build /src/build-release/proxy/stepgate /usr/local/bin/stepgate
COPY deploy/ /etc/stepgate/
USER stepgate
EXPOSE 8443 9901
ENTRYPOINT ["stepgate"]
CMD ["serve", "-c", "/etc/stepgate/stepgate.yaml"]
