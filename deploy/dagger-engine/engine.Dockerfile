# The Dagger engine image, assembled without a registry: Debian's runc, CNI plugins,
# dnsmasq and iptables around the dagger binaries that the build context carries in bin/,
# and the builtin Go and Python SDKs as OCI content (content/blobs) for module mode.
# Paths are the ones the engine hard-codes (/usr/local/bin/runc, /opt/cni/bin, ...).
ARG BASE_IMAGE=swarm/debian:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        runc containernetworking-plugins dnsmasq-base iptables \
        git openssh-client pigz xz-utils tini \
    && rm -rf /var/lib/apt/lists/*
COPY bin/dagger-engine bin/dagger-init bin/dagger /usr/local/bin/
COPY bin/dagger-dnsname /opt/cni/bin/dnsname
COPY bin/dagger-dialstdio /usr/bin/dial-stdio
COPY engine.json /etc/dagger/engine.json
COPY engine-entrypoint.sh /usr/local/bin/dagger-entrypoint.sh
# The engine points /usr/bin/iptables* at /usr/bin/xtables-{legacy,nft}-multi; Debian keeps
# those in /usr/sbin, and /usr/bin must come first on PATH so CNI uses the same backend.
ENV PATH=/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/bin:/sbin
RUN ln -s /usr/sbin/runc /usr/local/bin/runc \
    && ln -s /usr/sbin/xtables-legacy-multi /usr/bin/xtables-legacy-multi \
    && ln -s /usr/sbin/xtables-nft-multi /usr/bin/xtables-nft-multi \
    && ln -s /usr/bin/dial-stdio /usr/bin/buildctl \
    && for plugin in bridge loopback firewall host-local; do \
        ln -s /usr/lib/cni/$plugin /opt/cni/bin/$plugin; done
COPY content/blobs/ /usr/local/share/dagger/content/blobs/
ARG GO_SDK_DIGEST
ARG PYTHON_SDK_DIGEST
ENV DAGGER_GO_SDK_MANIFEST_DIGEST=${GO_SDK_DIGEST} \
    DAGGER_PYTHON_SDK_MANIFEST_DIGEST=${PYTHON_SDK_DIGEST}
VOLUME /var/lib/dagger
ENTRYPOINT ["tini", "--", "dagger-entrypoint.sh"]
