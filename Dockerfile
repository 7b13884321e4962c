# The qanatix image: one image, several roles (`serve`, `api`, `worker`).
FROM node:24-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY connectors ./connectors
COPY jobs ./jobs
COPY tsconfig.json ./
# The bundle the CLI runs (dist/), built once into the image.
RUN node bin/bundle.mjs
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000
EXPOSE 8000
USER node
# Through its shebang, with the node flags it carries (see bin/qanatix.mjs).
ENTRYPOINT ["./bin/qanatix.mjs"]
CMD ["serve"]
