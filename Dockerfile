# syntax=docker/dockerfile:1
# A small static image: the binary is pure Go (CGO_ENABLED=0), assets and
# the sample catalog are embedded.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mayfly ./cmd/mayfly \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mayfly /usr/local/bin/mayfly
COPY --from=build --chown=nonroot:nonroot /out/data /data
ENV MAYFLY_DATA_DIR=/data
VOLUME /data
USER nonroot:nonroot
EXPOSE 8080
# Mayfly listens on loopback unless sign-in is configured; in a container,
# configure MAYFLY_OIDC_* and set MAYFLY_ADDR=0.0.0.0:8080.
ENTRYPOINT ["/usr/local/bin/mayfly"]
CMD ["serve"]
