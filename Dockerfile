# One image for every process of the cloud (API, CLC, CC, NC workers); the
# command picks the role. Host agents (CC, NC) need NET_ADMIN and /dev/kvm.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends \
      qemu-system-x86 qemu-utils dnsmasq-base dnsmasq-utils iptables iproute2 busybox-static cpio \
      zstd xz-utils kmod procps util-linux curl mariadb-client && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cloud
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
ENV NODE_OPTIONS="--import tsx"
CMD ["node", "api/main.ts"]
